//! Members of an organization over HTTP: create, list, change role, deactivate; who may.

mod common;

use common::*;
use serde_json::{json, Value};

fn members_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/members")
}

fn find<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["members"]
        .as_array()
        .expect("members array")
        .iter()
        .find(|m| m["id"] == json!(id))
}

#[tokio::test]
async fn owner_creates_lists_and_member_logs_in() {
    let (server, org) = server_with_org("Members Inc").await;
    let email = unique_email("new");
    let m = org
        .create("members", member_body(&email, "New Person", "member"))
        .await;
    assert_uuid(&m["id"]);
    assert_eq!(m["email"], json!(email));
    assert_eq!(m["name"], "New Person");
    assert_eq!(m["role"], "member");
    assert_eq!(m["active"], true);
    assert_time(&m["created_at"]);
    assert!(
        m.get("password").is_none() && m.get("password_hash").is_none(),
        "{m}"
    );

    let l = org.owner.get_ok(&members_path(&org.id)).await;
    let listed = find(&l, m["id"].as_str().unwrap()).expect("new member listed");
    assert_eq!(listed["email"], json!(email));
    assert_eq!(listed["role"], "member");
    assert_eq!(listed["active"], true);
    let owner = find(&l, &org.owner_id).expect("owner listed");
    assert_eq!(owner["role"], "owner");
    assert_eq!(owner["email"], json!(org.owner_email));
    let text = l.to_string();
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "list leaks secrets: {text}"
    );

    // The new member can log in, and is who the API said.
    let api = server.login(&email, PASSWORD).await;
    let (s, me) = api.get("/api/v1/me").await;
    assert_eq!(s, 200);
    assert_eq!(me["user"]["id"], m["id"]);
    assert_eq!(me["memberships"][0]["role"], "member");
}

#[tokio::test]
async fn every_role_can_be_created_by_owner() {
    let (server, org) = server_with_org("Members Inc").await;
    for role in ["owner", "admin", "member", "worker", "customer"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        assert_eq!(m.body["role"], json!(role));
    }
    let l = org.owner.get_ok(&members_path(&org.id)).await;
    assert_eq!(l["members"].as_array().unwrap().len(), 6, "{l}");
}

#[tokio::test]
async fn admin_manages_members_but_not_owners() {
    let (server, org) = server_with_org("Members Inc").await;
    let admin = add_member(&server, &org.owner, &org.id, "admin").await;
    let a = &admin.api;

    // Admin can create every role but owner.
    for role in ["admin", "member", "worker", "customer"] {
        add_member(&server, a, &org.id, role).await;
    }
    let before = a.get_ok(&members_path(&org.id)).await;
    let got = a
        .post(
            &members_path(&org.id),
            member_body(&unique_email("o"), "Would-be owner", "owner"),
        )
        .await;
    expect_forbidden(&got);

    // Nor change an owner: not their role, not deactivate them.
    let owner_path = format!("{}/{}", members_path(&org.id), org.owner_id);
    expect_forbidden(&a.patch(&owner_path, json!({"role": "member"})).await);
    expect_forbidden(&a.delete(&owner_path).await);
    assert_eq!(
        a.get_ok(&members_path(&org.id)).await,
        before,
        "refused changes changed something"
    );
    // Nor promote someone to owner.
    let w = add_member(&server, &org.owner, &org.id, "worker").await;
    let before = a.get_ok(&members_path(&org.id)).await;
    let w_path = format!("{}/{}", members_path(&org.id), w.id);
    expect_forbidden(&a.patch(&w_path, json!({"role": "owner"})).await);
    assert_eq!(
        a.get_ok(&members_path(&org.id)).await,
        before,
        "refused changes changed something"
    );
    // The owner still works.
    let (s, _) = org.owner.get("/api/v1/me").await;
    assert_eq!(s, 200);

    // But an admin can change and deactivate non-owners.
    let (s, body) = a.patch(&w_path, json!({"role": "member"})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["role"], "member");
    let (s, _) = a.delete(&w_path).await;
    assert_eq!(s, 204);
}

#[tokio::test]
async fn lesser_roles_may_not_touch_members() {
    let (server, org) = server_with_org("Members Inc").await;
    let target = add_member(&server, &org.owner, &org.id, "worker").await;
    let target_path = format!("{}/{}", members_path(&org.id), target.id);
    for role in ["member", "worker", "customer"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        let before = org.owner.get_ok(&members_path(&org.id)).await;
        expect_forbidden(&m.api.get(&members_path(&org.id)).await);
        let create = m
            .api
            .post(
                &members_path(&org.id),
                member_body(&unique_email("x"), "X", "worker"),
            )
            .await;
        expect_forbidden(&create);
        expect_forbidden(&m.api.patch(&target_path, json!({"role": "admin"})).await);
        expect_forbidden(&m.api.delete(&target_path).await);
        // Not even on themselves.
        let own = format!("{}/{}", members_path(&org.id), m.id);
        expect_forbidden(&m.api.patch(&own, json!({"role": "admin"})).await);
        assert_eq!(
            org.owner.get_ok(&members_path(&org.id)).await,
            before,
            "{role}: refused requests changed members"
        );
    }
}

#[tokio::test]
async fn change_role_takes_effect() {
    let (server, org) = server_with_org("Members Inc").await;
    let m = add_member(&server, &org.owner, &org.id, "worker").await;
    let path = format!("{}/{}", members_path(&org.id), m.id);
    // As a worker, may not create boards.
    let got = m
        .api
        .post(
            &format!("/api/v1/orgs/{}/boards", org.id),
            json!({"name": "B"}),
        )
        .await;
    expect_forbidden(&got);

    let (s, body) = org.owner.patch(&path, json!({"role": "member"})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["id"], json!(m.id));
    assert_eq!(body["role"], "member");
    assert_eq!(body["email"], json!(m.email));
    assert_eq!(body["active"], true);
    let l = org.owner.get_ok(&members_path(&org.id)).await;
    assert_eq!(find(&l, &m.id).unwrap()["role"], "member");
    let (_, me) = m.api.get("/api/v1/me").await;
    assert_eq!(me["memberships"][0]["role"], "member");
    // The same access token now has the new role's rights.
    m.api
        .post_created(
            &format!("/api/v1/orgs/{}/boards", org.id),
            json!({"name": "B"}),
        )
        .await;

    expect_bad_field(
        &org.owner.patch(&path, json!({"role": "emperor"})).await,
        "role",
    );
    expect_bad_field(&org.owner.patch(&path, json!({})).await, "role");
    let missing = format!("{}/{}", members_path(&org.id), random_id());
    expect_error(
        &org.owner.patch(&missing, json!({"role": "member"})).await,
        404,
        "not_found",
    );
    expect_error(&org.owner.delete(&missing).await, 404, "not_found");
}

#[tokio::test]
async fn deactivated_member_loses_access() {
    let (server, org) = server_with_org("Members Inc").await;
    let m = add_member(&server, &org.owner, &org.id, "member").await;
    let t = login(&server.base, &m.email, PASSWORD).await;
    let boards = format!("/api/v1/orgs/{}/boards", org.id);
    let (s, _) = m.api.get(&boards).await;
    assert_eq!(s, 200);

    let (s, body) = org
        .owner
        .delete(&format!("{}/{}", members_path(&org.id), m.id))
        .await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(body, Value::Null);

    // Their login fails like any failed login.
    let got = server.api().login_attempt(&m.email, PASSWORD).await.pair();
    expect_unauthorized(&got);
    // Their existing access token no longer opens org paths.
    expect_unauthorized(&m.api.get(&boards).await);
    expect_unauthorized(
        &m.api
            .post(&boards, json!({"name": "after deactivation"}))
            .await,
    );
    let (_, l) = org.owner.get(&boards).await;
    assert!(
        l["boards"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["name"] != "after deactivation"),
        "{l}"
    );
    // Nor can they renew it.
    expect_unauthorized(&server.api().refresh(&t.refresh).await);
    // The list says so, if it lists them at all.
    let l = org.owner.get_ok(&members_path(&org.id)).await;
    if let Some(entry) = find(&l, &m.id) {
        assert_eq!(entry["active"], false, "{entry}");
    }
}

#[tokio::test]
async fn duplicate_email_is_409() {
    let (server, org) = server_with_org("Members Inc").await;
    let m = add_member(&server, &org.owner, &org.id, "member").await;
    let before = org.owner.get_ok(&members_path(&org.id)).await;
    for email in [m.email.clone(), org.owner_email.clone()] {
        let got = org
            .owner
            .post(&members_path(&org.id), member_body(&email, "Dup", "worker"))
            .await;
        expect_error(&got, 409, "conflict");
    }
    assert_eq!(org.owner.get_ok(&members_path(&org.id)).await, before);
    // The original still logs in with their own password.
    login(&server.base, &m.email, PASSWORD).await;
}

#[tokio::test]
async fn member_fields_are_validated() {
    let (_server, org) = server_with_org("Members Inc").await;
    let path = members_path(&org.id);
    let before = org.owner.get_ok(&members_path(&org.id)).await;
    let ok = |email: String, name: String, password: String| json!({"email": email, "name": name, "password": password, "role": "member"});
    let long_email = format!("{}@example.test", "a".repeat(255 - "@example.test".len()));
    assert_eq!(long_email.len(), 255);
    let cases: Vec<(&str, Value)> = vec![
        (
            "password",
            ok(unique_email("p"), "N".into(), "1234567".into()),
        ),
        (
            "password",
            ok(unique_email("p"), "N".into(), "p".repeat(257)),
        ),
        ("name", ok(unique_email("n"), "".into(), PASSWORD.into())),
        (
            "name",
            ok(unique_email("n"), "n".repeat(101), PASSWORD.into()),
        ),
        (
            "name",
            ok(unique_email("n"), "é".repeat(101), PASSWORD.into()),
        ),
        (
            "email",
            ok(
                "no-at-sign.example.test".into(),
                "N".into(),
                PASSWORD.into(),
            ),
        ),
        ("email", ok(long_email, "N".into(), PASSWORD.into())),
        ("role", member_body(&unique_email("r"), "N", "emperor")),
        (
            "role",
            json!({"email": unique_email("r"), "name": "N", "password": PASSWORD}),
        ),
        (
            "email",
            json!({"name": "N", "password": PASSWORD, "role": "member"}),
        ),
        (
            "name",
            json!({"email": unique_email("r"), "name": 5, "password": PASSWORD, "role": "member"}),
        ),
        (
            "nickname",
            json!({"email": unique_email("r"), "name": "N", "password": PASSWORD, "role": "member", "nickname": "x"}),
        ),
    ];
    for (field, body) in cases {
        let got = org.owner.post(&path, body.clone()).await;
        assert_eq!(got.0, 400, "{field}: {body} -> {} {}", got.0, got.1);
        expect_bad_field(&got, field);
    }
    assert_eq!(
        org.owner.get_ok(&members_path(&org.id)).await,
        before,
        "rejected requests changed members"
    );

    // The limits are inclusive; names count characters, not bytes.
    let edge_email = format!("{}@example.test", "b".repeat(254 - "@example.test".len()));
    assert_eq!(edge_email.len(), 254);
    let edges = [
        ok(unique_email("p8"), "N".into(), "12345678".into()),
        ok(unique_email("p256"), "N".into(), "p".repeat(256)),
        ok(unique_email("n100"), "n".repeat(100), PASSWORD.into()),
        ok(unique_email("n100u"), "é".repeat(100), PASSWORD.into()),
        ok(edge_email, "N".into(), PASSWORD.into()),
    ];
    for body in edges {
        let (s, got) = org.owner.post(&path, body.clone()).await;
        assert_eq!(s, 201, "{body} -> {got}");
    }
}
