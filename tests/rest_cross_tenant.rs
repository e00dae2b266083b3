//! Tenant isolation over HTTP: everything of organization A answers 404 `not_found` to the
//! people and keys of organization B, exactly as if it did not exist, and nothing in A changes.

mod common;

use common::*;
use serde_json::{json, Value};

/// Org A with one of everything.
struct A {
    org: Org,
    member: Member,
    customer: Value,
    board: Value,
    key: Value,
    card: String,
    link: Value,
}

async fn populate(server: &TestServer) -> A {
    let org = new_org(server, "Org A").await;
    let member = add_member(server, &org.owner, &org.id, "member").await;
    let customer = org
        .create("customers", json!({"name": "A's customer"}))
        .await;
    let board = new_board(&org, json!({"name": "A's board", "template": "jobs"})).await;
    let key = org
        .create("api-keys", json!({"name": "A's bot", "role": "member"}))
        .await;
    let card = create_card(&org.owner, &board, "A's job").await;
    let link = share_link(&org.owner, &card, json!({})).await;
    A {
        org,
        member,
        customer,
        board,
        key,
        card,
        link,
    }
}

/// A server with org A ([`populate`]d) and an empty org B, whose people try A's things.
async fn two_orgs() -> (TestServer, A, Org) {
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let a = populate(&server).await;
    let b = new_org(&server, "Org B").await;
    (server, a, b)
}

/// Everything of A that the API can show, as A's owner sees it.
async fn state_of(a: &A, server: &TestServer) -> Value {
    let whats = ["members", "customers", "boards", "api-keys"];
    let mut all = org_lists(&a.org.owner, &a.org.id, &whats).await;
    let customer = format!(
        "/api/v1/orgs/{}/customers/{}",
        a.org.id,
        a.customer["id"].as_str().unwrap()
    );
    all.insert("customer".into(), a.org.owner.get_ok(&customer).await);
    let live_links = sql_count(
        &server.db_url,
        &format!(
            "SELECT count(*) FROM share_links WHERE org_id = '{}' AND revoked_at IS NULL",
            a.org.id
        ),
    )
    .await;
    all.insert("live_share_links".into(), json!(live_links));
    Value::Object(all)
}

type Attack = (&'static str, String, Option<Value>);

fn get(path: String) -> Attack {
    ("GET", path, None)
}

fn post(path: String, body: Value) -> Attack {
    ("POST", path, Some(body))
}

fn patch(path: String, body: Value) -> Attack {
    ("PATCH", path, Some(body))
}

fn delete(path: String) -> Attack {
    ("DELETE", path, None)
}

/// Every org-A request, with a body where it takes one.
fn attacks(a: &A) -> Vec<Attack> {
    let o = format!("/api/v1/orgs/{}", a.org.id);
    let member = &a.member.id;
    let owner = &a.org.owner_id;
    let customer = a.customer["id"].as_str().unwrap();
    let board = a.board["id"].as_str().unwrap();
    let key = a.key["id"].as_str().unwrap();
    let link = a.link["id"].as_str().unwrap();
    let card = &a.card;
    let intruder = member_body(&unique_email("intruder"), "Intruder", "owner");
    vec![
        get(format!("{o}/members")),
        post(format!("{o}/members"), intruder),
        patch(format!("{o}/members/{member}"), json!({"role": "worker"})),
        patch(format!("{o}/members/{owner}"), json!({"role": "worker"})),
        delete(format!("{o}/members/{member}")),
        delete(format!("{o}/members/{owner}")),
        get(format!("{o}/customers")),
        get(format!("{o}/customers/{customer}")),
        post(format!("{o}/customers"), json!({"name": "Planted"})),
        patch(
            format!("{o}/customers/{customer}"),
            json!({"name": "Renamed"}),
        ),
        delete(format!("{o}/customers/{customer}")),
        get(format!("{o}/boards")),
        post(format!("{o}/boards"), json!({"name": "Planted"})),
        post(format!("/api/v1/boards/{board}/archive"), json!({})),
        get(format!("{o}/api-keys")),
        post(
            format!("{o}/api-keys"),
            json!({"name": "Planted", "role": "admin"}),
        ),
        delete(format!("{o}/api-keys/{key}")),
        post(format!("/api/v1/cards/{card}/share-links"), json!({})),
        delete(format!("/api/v1/share-links/{link}")),
    ]
}

async fn assert_all_not_found(a: &A, as_b: &Api, who: &str) {
    for (method, path, body) in attacks(a) {
        let got = as_b.send(method, &path, body).await.pair();
        assert_eq!(got.0, 404, "{who}: {method} {path} -> {} {}", got.0, got.1);
        expect_error(&got, 404, "not_found");
    }
}

#[tokio::test]
async fn users_of_another_org_get_404_everywhere_and_change_nothing() {
    let (server, a, b) = two_orgs().await;
    let before = state_of(&a, &server).await;

    assert_all_not_found(&a, &b.owner, "B's owner").await;
    let b_admin = add_member(&server, &b.owner, &b.id, "admin").await;
    assert_all_not_found(&a, &b_admin.api, "B's admin").await;
    let b_member = add_member(&server, &b.owner, &b.id, "member").await;
    assert_all_not_found(&a, &b_member.api, "B's member").await;

    assert_eq!(
        state_of(&a, &server).await,
        before,
        "B's requests changed org A"
    );
    // A's own people and bot are unaffected.
    let (s, me) = a.member.api.get("/api/v1/me").await;
    assert_eq!(s, 200);
    assert_eq!(me["memberships"][0]["role"], "member");
    let bot = server.api().with_token(a.key["key"].as_str().unwrap());
    assert_eq!(
        bot.get(&format!("/api/v1/orgs/{}/boards", a.org.id))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn api_keys_of_another_org_get_404_everywhere() {
    let (server, a, b) = two_orgs().await;
    let k = b
        .create("api-keys", json!({"name": "B's bot", "role": "admin"}))
        .await;
    let before = state_of(&a, &server).await;
    let bot = server.api().with_token(k["key"].as_str().unwrap());
    assert_all_not_found(&a, &bot, "B's admin key").await;
    assert_eq!(state_of(&a, &server).await, before, "B's key changed org A");
}

#[tokio::test]
async fn another_org_looks_exactly_like_no_org() {
    let (_server, a, b) = two_orgs().await;
    let customer = a.customer["id"].as_str().unwrap();
    let board = a.board["id"].as_str().unwrap();
    let link = a.link["id"].as_str().unwrap();
    let pairs = [
        (
            "GET",
            format!("/api/v1/orgs/{}/members", a.org.id),
            format!("/api/v1/orgs/{}/members", random_id()),
        ),
        (
            "GET",
            format!("/api/v1/orgs/{}/customers/{customer}", a.org.id),
            format!("/api/v1/orgs/{}/customers/{}", random_id(), random_id()),
        ),
        (
            "POST",
            format!("/api/v1/boards/{board}/archive"),
            format!("/api/v1/boards/{}/archive", random_id()),
        ),
        (
            "GET",
            format!("/api/v1/boards/{board}"),
            format!("/api/v1/boards/{}", random_id()),
        ),
        (
            "POST",
            format!("/api/v1/cards/{}/share-links", a.card),
            format!("/api/v1/cards/{}/share-links", random_id()),
        ),
        (
            "DELETE",
            format!("/api/v1/share-links/{link}"),
            format!("/api/v1/share-links/{}", random_id()),
        ),
    ];
    for (method, theirs, nobodys) in pairs {
        let body = (method == "POST").then(|| json!({}));
        let x = b.owner.send(method, &theirs, body.clone()).await;
        let y = b.owner.send(method, &nobodys, body).await;
        assert_eq!(x.status, 404, "{method} {theirs}: {}", x.body);
        assert_eq!(
            (x.status, &x.body),
            (y.status, &y.body),
            "{method} {theirs}: another org's resource must answer exactly like a missing one"
        );
    }
}

#[tokio::test]
async fn references_into_another_org_are_refused() {
    let (server, a, b) = two_orgs().await;
    let a_customer_user = add_member(&server, &a.org.owner, &a.org.id, "customer").await;

    // A customer of B linked to a user of A.
    let got = b
        .owner
        .post(
            &format!("/api/v1/orgs/{}/customers", b.id),
            json!({"name": "Stolen", "user_id": a_customer_user.id}),
        )
        .await;
    expect_client_error(&got, "linking A's user from B");
    let (_, l) = b
        .owner
        .get(&format!("/api/v1/orgs/{}/customers", b.id))
        .await;
    assert!(ids(&l, "customers").is_empty(), "{l}");

    // Creating a member of B with the email of A's member does not touch A's user.
    let got = b
        .owner
        .post(
            &format!("/api/v1/orgs/{}/members", b.id),
            json!({"email": a.member.email, "name": "Hijack", "password": "another password", "role": "member"}),
        )
        .await;
    assert_ne!(got.0, 201, "one email, two users? {}", got.1);
    let t = login(&server.base, &a.member.email, PASSWORD).await;
    let (_, me) = server.api().with_token(&t.access).get("/api/v1/me").await;
    assert_eq!(me["user"]["name"], "A member");
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1, "{me}");
    assert_eq!(me["memberships"][0]["org_id"], json!(a.org.id));
    let bad = server
        .api()
        .post(
            "/api/v1/auth/login",
            json!({"email": a.member.email, "password": "another password"}),
        )
        .await;
    expect_error(&bad, 401, "unauthorized");
}
