//! API keys over HTTP: issue, list without secrets, use as a bearer with the key's role,
//! revoke; who may.

mod common;

use common::*;
use serde_json::{json, Value};

fn path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/api-keys")
}

#[tokio::test]
async fn issue_list_use_and_revoke() {
    let (server, org) = server_with_org("Bots R Us").await;
    let k = org
        .create("api-keys", json!({"name": "ci-bot", "role": "member"}))
        .await;
    assert_uuid(&k["id"]);
    let key = k["key"].as_str().expect("key").to_string();
    assert!(key.starts_with("br_"), "{key}");
    assert!(key.len() >= 3 + 32, "a key needs real entropy: {key}");
    assert_eq!(k["name"], "ci-bot");
    assert_eq!(k["role"], "member");
    assert_eq!(k["boards"], Value::Null, "no scope = every board");
    assert_eq!(
        k["expires_at"],
        Value::Null,
        "no expiry asked, none configured"
    );
    assert_time(&k["created_at"]);
    let id = k["id"].as_str().unwrap().to_string();

    // Listed, never with the secret.
    let l = org.owner.get_ok(&path(&org.id)).await;
    assert_eq!(ids(&l, "api_keys"), vec![id.clone()]);
    let entry = &l["api_keys"][0];
    assert_eq!(entry["name"], "ci-bot");
    assert_eq!(entry["role"], "member");
    assert!(entry.get("key").is_none(), "list shows the key: {entry}");
    assert!(
        !l.to_string().contains(&key[3..]),
        "list leaks the secret: {l}"
    );

    // The key works as a bearer with its role: a member may list and create boards...
    let bot = server.api().with_token(&key);
    let (s, boards) = bot.get(&format!("/api/v1/orgs/{}/boards", org.id)).await;
    assert_eq!(s, 200, "{boards}");
    bot.post_created(
        &format!("/api/v1/orgs/{}/boards", org.id),
        json!({"name": "by bot"}),
    )
    .await;
    // ...but not manage members or keys.
    expect_forbidden(&bot.get(&format!("/api/v1/orgs/{}/members", org.id)).await);
    expect_forbidden(&bot.get(&path(&org.id)).await);

    // Revoke: 204, then the key is refused.
    let (s, body) = org.owner.delete(&format!("{}/{id}", path(&org.id))).await;
    assert_eq!(s, 204, "{body}");
    expect_error(
        &bot.get(&format!("/api/v1/orgs/{}/boards", org.id)).await,
        401,
        "unauthorized",
    );
    expect_error(
        &bot.post(
            &format!("/api/v1/orgs/{}/boards", org.id),
            json!({"name": "after revoke"}),
        )
        .await,
        401,
        "unauthorized",
    );
    expect_error(
        &org.owner
            .delete(&format!("{}/{}", path(&org.id), random_id()))
            .await,
        404,
        "not_found",
    );
    // An unknown key of the right shape is refused too.
    let fake = server.api().with_token(&format!("br_{}", "A".repeat(43)));
    expect_error(
        &fake.get(&format!("/api/v1/orgs/{}/boards", org.id)).await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn key_role_limits_what_it_may_do() {
    let (server, org) = server_with_org("Bots R Us").await;
    let mk = |role: &'static str| {
        let owner = org.owner.clone();
        let p = path(&org.id);
        async move {
            let (s, k) = owner
                .post(&p, json!({"name": format!("{role} key"), "role": role}))
                .await;
            assert_eq!(s, 201, "{role}: {k}");
            k["key"].as_str().unwrap().to_string()
        }
    };
    let admin = server.api().with_token(&mk("admin").await);
    let worker = server.api().with_token(&mk("worker").await);
    let members = format!("/api/v1/orgs/{}/members", org.id);
    let boards = format!("/api/v1/orgs/{}/boards", org.id);

    // An admin key does what an admin does with boards and customers.
    let (s, b) = admin
        .post(&boards, json!({"name": "admin-bot board"}))
        .await;
    assert_eq!(s, 201, "{b}");
    admin
        .post_created(
            &format!("/api/v1/orgs/{}/customers", org.id),
            json!({"name": "From the CRM"}),
        )
        .await;
    let (s, gone) = admin
        .post(
            &format!("/api/v1/boards/{}/archive", b["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{gone}");
    let (s, b) = admin
        .post(&boards, json!({"name": "admin-bot board 2"}))
        .await;
    assert_eq!(s, 201, "{b}");
    // Whether a key may manage people is the policy's call (it says no: a leaked key must not
    // mint users); either way it is an answer, not a crash.
    let got = admin.get(&members).await;
    assert!(got.0 == 200 || got.0 == 403, "{} {}", got.0, got.1);

    expect_forbidden(&worker.post(&boards, json!({"name": "No"})).await);
    expect_forbidden(&worker.get(&members).await);
    expect_forbidden(
        &worker
            .post(
                &format!("/api/v1/orgs/{}/customers", org.id),
                json!({"name": "No"}),
            )
            .await,
    );
    let (_, l) = org.owner.get(&boards).await;
    assert_eq!(ids(&l, "boards").len(), 1, "{l}");
}

#[tokio::test]
async fn scope_and_expiry_are_kept() {
    let (_server, org) = server_with_org("Bots R Us").await;
    let (_, b) = org
        .owner
        .post(
            &format!("/api/v1/orgs/{}/boards", org.id),
            json!({"name": "Scoped"}),
        )
        .await;
    let board_id = b["id"].as_str().unwrap();
    let before = chrono::Utc::now();
    let k = org
        .create(
            "api-keys",
            json!({"name": "scoped", "role": "member", "boards": [board_id], "expires_in_days": 7}),
        )
        .await;
    assert_eq!(k["boards"], json!([board_id]));
    let exp = assert_time(&k["expires_at"]);
    let want = before + chrono::Duration::days(7);
    assert!(
        (exp - want).num_seconds().abs() <= 120,
        "expires_at {exp} should be 7 days from now ({want})"
    );
    let l = org.owner.get_ok(&path(&org.id)).await;
    assert_eq!(l["api_keys"][0]["boards"], json!([board_id]));
    assert!(l["api_keys"][0]["expires_at"].is_string());
}

#[tokio::test]
async fn a_scoped_key_sees_only_its_boards() {
    let (server, org) = server_with_org("Bots R Us").await;
    let boards = format!("/api/v1/orgs/{}/boards", org.id);
    let (_, inside) = org.owner.post(&boards, json!({"name": "Inside"})).await;
    let (_, outside) = org.owner.post(&boards, json!({"name": "Outside"})).await;
    let inside_id = inside["id"].as_str().unwrap();
    let k = org
        .create(
            "api-keys",
            json!({"name": "scoped", "role": "member", "boards": [inside_id]}),
        )
        .await;
    let bot = server.api().with_token(k["key"].as_str().unwrap());
    let (s, l) = bot.get(&boards).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(ids(&l, "boards"), vec![inside_id.to_string()], "{l}");
    // Outside its scope the board is not there for it.
    let out = format!("/api/v1/boards/{}", outside["id"].as_str().unwrap());
    let got = bot.get(&out).await;
    expect_refused(&got, "a board out of scope");
    let (s, snap) = bot.get(&format!("/api/v1/boards/{inside_id}")).await;
    assert_eq!(s, 200, "{snap}");
}

/// Issue 15.7: a key scoped to some boards may act on those boards only. Even with the admin
/// role it may not create boards, see or manage the org's customers, or administer members.
#[tokio::test]
async fn a_scoped_key_touches_nothing_org_wide() {
    let (server, org) = server_with_org("Bots R Us").await;
    let boards = format!("/api/v1/orgs/{}/boards", org.id);
    let customers = format!("/api/v1/orgs/{}/customers", org.id);
    let members = format!("/api/v1/orgs/{}/members", org.id);
    let (_, inside) = org.owner.post(&boards, json!({"name": "Inside"})).await;
    let inside_id = inside["id"].as_str().unwrap().to_string();
    let cust = org
        .owner
        .post_created(
            &customers,
            json!({"name": "Acme", "email": "acme@example.com"}),
        )
        .await;
    let cust_path = format!("{customers}/{}", cust["id"].as_str().unwrap());
    let k = org
        .create(
            "api-keys",
            json!({"name": "scoped", "role": "admin", "boards": [inside_id]}),
        )
        .await;
    let bot = server.api().with_token(k["key"].as_str().unwrap());

    expect_forbidden(&bot.post(&boards, json!({"name": "Sneaky"})).await);
    expect_forbidden(&bot.get(&customers).await);
    expect_forbidden(&bot.get(&cust_path).await);
    expect_forbidden(&bot.post(&customers, json!({"name": "Mallory"})).await);
    expect_forbidden(&bot.patch(&cust_path, json!({"name": "Renamed"})).await);
    expect_forbidden(&bot.delete(&cust_path).await);
    expect_forbidden(&bot.get(&members).await);
    // Nor who the org's people are.
    expect_forbidden(&bot.get(&format!("/api/v1/orgs/{}/people", org.id)).await);
    expect_forbidden(&bot.post(
            &members,
            json!({"email": unique_email("scoped"), "name": "New", "password": "a long password 1", "role": "member"}),
        )
        .await);
    // Nothing was made or changed behind the refusals.
    let (_, l) = org.owner.get(&boards).await;
    assert_eq!(ids(&l, "boards"), vec![inside_id.clone()], "{l}");
    let (s, c) = org.owner.get(&cust_path).await;
    assert_eq!((s, c["name"].as_str()), (200, Some("Acme")), "{c}");
    let (_, cl) = org.owner.get(&customers).await;
    assert_eq!(ids(&cl, "customers").len(), 1, "{cl}");

    // Its own board is still its to work on: read, and an op as its admin role allows.
    let (s, l) = bot.get(&boards).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(ids(&l, "boards"), vec![inside_id.clone()], "{l}");
    let (s, snap) = bot.get(&format!("/api/v1/boards/{inside_id}")).await;
    assert_eq!(s, 200, "{snap}");
    create_card(&bot, &inside, "by the scoped key").await;
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let (server, org) = server_with_org("Bots R Us").await;
    let k = org
        .create(
            "api-keys",
            json!({"name": "short-lived", "role": "member", "expires_in_days": 1}),
        )
        .await;
    let bot = server.api().with_token(k["key"].as_str().unwrap());
    let boards = format!("/api/v1/orgs/{}/boards", org.id);
    assert_eq!(bot.get(&boards).await.0, 200);
    // Let a day pass.
    let n = sql_count(
        &server.db_url,
        &format!(
            "WITH u AS (UPDATE api_keys SET expires_at = now() - interval '1 second' \
             WHERE id = '{}' RETURNING 1) SELECT count(*) FROM u",
            k["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(n, 1);
    expect_error(&bot.get(&boards).await, 401, "unauthorized");
}

#[tokio::test]
async fn no_owner_keys_and_bad_fields() {
    let (_server, org) = server_with_org("Bots R Us").await;
    let p = path(&org.id);
    let got = org
        .owner
        .post(&p, json!({"name": "root", "role": "owner"}))
        .await;
    assert!(
        got.0 == 400 || got.0 == 403,
        "an owner key must be refused: {} {}",
        got.0,
        got.1
    );
    assert!(got.1.get("key").is_none(), "{}", got.1);
    expect_bad_field(&org.owner.post(&p, json!({"role": "member"})).await, "name");
    expect_bad_field(&org.owner.post(&p, json!({"name": "x"})).await, "role");
    expect_bad_field(
        &org.owner
            .post(&p, json!({"name": "x", "role": "robot"}))
            .await,
        "role",
    );
    expect_bad_field(
        &org.owner
            .post(&p, json!({"name": "", "role": "member"}))
            .await,
        "name",
    );
    expect_bad_field(
        &org.owner
            .post(&p, json!({"name": "n".repeat(101), "role": "member"}))
            .await,
        "name",
    );
    expect_bad_field(
        &org.owner
            .post(&p, json!({"name": "x", "role": "member", "secret": "mine"}))
            .await,
        "secret",
    );
    assert!(
        ids(&org.owner.get_ok(&path(&org.id)).await, "api_keys").is_empty(),
        "a refused request made a key"
    );
}

#[tokio::test]
async fn only_owners_and_admins_manage_keys() {
    let (server, org) = server_with_org("Bots R Us").await;
    let k = org
        .create("api-keys", json!({"name": "k", "role": "member"}))
        .await;
    let one = format!("{}/{}", path(&org.id), k["id"].as_str().unwrap());
    let admin = add_member(&server, &org.owner, &org.id, "admin").await;
    admin
        .api
        .post_created(
            &path(&org.id),
            json!({"name": "by admin", "role": "worker"}),
        )
        .await;
    assert_eq!(admin.api.get(&path(&org.id)).await.0, 200);
    // An admin may not issue an owner key either.
    let got = admin
        .api
        .post(&path(&org.id), json!({"name": "root", "role": "owner"}))
        .await;
    assert!((400..500).contains(&got.0), "{} {}", got.0, got.1);

    for role in ["member", "worker", "customer"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        let before = org.owner.get_ok(&path(&org.id)).await;
        expect_forbidden(&m.api.get(&path(&org.id)).await);
        expect_forbidden(
            &m.api
                .post(&path(&org.id), json!({"name": "no", "role": "worker"}))
                .await,
        );
        expect_forbidden(&m.api.delete(&one).await);
        assert_eq!(
            org.owner.get_ok(&path(&org.id)).await,
            before,
            "{role}: refused requests changed keys"
        );
    }
    // The key survived all of that.
    let key = k["key"].as_str().unwrap();
    let (s, _) = server
        .api()
        .with_token(key)
        .get(&format!("/api/v1/orgs/{}/boards", org.id))
        .await;
    assert_eq!(s, 200);
}

/// A server whose HTTP ops are limited to 1 a second per credential after a burst, and an org
/// with a board to send them to.
struct Throttled {
    server: TestServer,
    org: Org,
    board_id: String,
    col: String,
    /// `POST` here: the board's ops.
    ops: String,
}

impl Throttled {
    /// The server (bursts of `burst` ops) and an org named `name` with a kanban board.
    async fn start(name: &str, burst: &str) -> Throttled {
        let (server, org) = server_with_org_env(
            name,
            &[
                ("BOARDROOM_LIMITS__HTTP_OPS_PER_SECOND_PER_CREDENTIAL", "1"),
                ("BOARDROOM_LIMITS__HTTP_OPS_BURST_PER_CREDENTIAL", burst),
            ],
        )
        .await;
        let board = new_board(&org, json!({"name": "B"})).await;
        let board_id = board["id"].as_str().unwrap().to_string();
        let col = board["columns"][0]["id"].as_str().unwrap().to_string();
        let ops = format!("/api/v1/boards/{board_id}/ops");
        Throttled {
            server,
            org,
            board_id,
            col,
            ops,
        }
    }

    /// A `card.create` op (new `op_id`) of card `card` in the board's first column.
    fn create(&self, card: &str) -> Value {
        json!({"op_id": uuid::Uuid::now_v7(), "kind": "card.create",
               "data": {"column_id": self.col, "title": "t", "card_id": card}})
    }
}

#[tokio::test]
async fn http_ops_are_rate_limited_per_credential() {
    let t = Throttled::start("Throttled", "3").await;
    let (org, ops, board_id) = (&t.org, &t.ops, &t.board_id);
    let key = |name: &'static str| {
        let owner = org.owner.clone();
        let org_id = org.id.clone();
        async move {
            let (s, k) = owner
                .post(&path(&org_id), json!({"name": name, "role": "member"}))
                .await;
            assert_eq!(s, 201, "{k}");
            owner.with_token(k["key"].as_str().unwrap())
        }
    };
    let bot_a = key("a").await;
    let bot_b = key("b").await;
    let create = |card: &str| t.create(card);

    // A burst from key A: the first 3 pass, then 429 with the protocol's error body.
    let mut passed = 0;
    let (refused, refused_card) = loop {
        let card = uuid::Uuid::now_v7().to_string();
        let r = bot_a.send("POST", ops, Some(create(&card))).await;
        if r.status == 429 {
            break (r, card);
        }
        assert_eq!(r.status, 200, "{}", r.body);
        passed += 1;
        assert!(passed <= 5, "no 429 after {passed} ops");
    };
    assert!(
        passed >= 3,
        "the burst of 3 was not honoured: 429 after {passed}"
    );
    let (err, header) = expect_retry_later(&refused, 429, "rate_limited");
    let wait_ms = err["retry_after_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("429 without retry_after_ms: {}", refused.body));
    assert!((1..=1000).contains(&wait_ms), "retry_after_ms {wait_ms}");
    assert_eq!(header, "1", "whole seconds, rounded up");
    let refused_at = std::time::Instant::now();

    // Another key, and a user, have budgets of their own.
    let (s, b) = bot_b
        .post(ops, create(&uuid::Uuid::now_v7().to_string()))
        .await;
    assert_eq!(s, 200, "key B was limited by key A: {b}");
    let (s, b) = org
        .owner
        .post(ops, create(&uuid::Uuid::now_v7().to_string()))
        .await;
    assert_eq!(s, 200, "the owner was limited by key A: {b}");
    // Key A is still refused until its wait is over; the refused op was not applied.
    if refused_at.elapsed().as_millis() + 50 < u128::from(wait_ms) {
        let r = bot_a
            .send("POST", ops, Some(create(&uuid::Uuid::now_v7().to_string())))
            .await;
        assert_eq!(r.status, 429, "{}", r.body);
    }
    let (_, snap) = org.owner.get(&format!("/api/v1/boards/{board_id}")).await;
    assert!(
        !snap["cards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == json!(refused_card)),
        "a rate-limited op was applied"
    );

    // After the wait, key A gets through again.
    tokio::time::sleep(std::time::Duration::from_millis(wait_ms + 20)).await;
    let (s, b) = bot_a
        .post(ops, create(&uuid::Uuid::now_v7().to_string()))
        .await;
    assert_eq!(s, 200, "key A still limited after its wait: {b}");
}

#[tokio::test]
async fn http_ops_of_one_user_share_a_budget_across_tokens() {
    let t = Throttled::start("OneUser", "2").await;
    let (server, org, ops) = (&t.server, &t.org, &t.ops);
    let create = || t.create(&uuid::Uuid::now_v7().to_string());
    // A second login is the same user: it does not bring a fresh budget.
    let second = server.login(&org.owner_email, PASSWORD).await;
    let mut statuses = Vec::new();
    for api in [&org.owner, &second, &org.owner, &second] {
        statuses.push(api.post(ops, create()).await.0);
        if statuses.last() == Some(&429) {
            break;
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}
