//! The set-up an operator walks through on day one, end to end over HTTP: an owner (from
//! `create-org`) makes an admin; the admin makes two workers, a customer user and the customer
//! record for them, and a jobs board. Someone of another organization sees none of it.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn day_one_setup_and_isolation() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[]).await;
    let owner_email = unique_email("owner");
    let (org, owner_id) = create_org(&db, "Speedy Plumbing", &owner_email, PASSWORD);
    let owner = server.login(&owner_email, PASSWORD).await;

    // The owner makes an admin.
    let admin_email = unique_email("admin");
    let admin = owner.post_created(&format!("/api/v1/orgs/{org}/members"), json!({"email": admin_email, "name": "Ada Admin", "password": "admin password 1", "role": "admin"})).await;
    let admin_api = server.login(&admin_email, "admin password 1").await;

    // The admin makes two workers and a customer user.
    let mut made = vec![owner_id.clone(), admin["id"].as_str().unwrap().to_string()];
    let mut users = Vec::new();
    for (name, role) in [
        ("Wendy Worker", "worker"),
        ("Walt Worker", "worker"),
        ("Carla Customer", "customer"),
    ] {
        let email = unique_email(role);
        let m = admin_api
            .post_created(
                &format!("/api/v1/orgs/{org}/members"),
                member_body(&email, name, role),
            )
            .await;
        assert_eq!(m["role"], role);
        made.push(m["id"].as_str().unwrap().to_string());
        users.push((email, m));
    }
    let customer_user = &users[2].1;

    // ...and the customer record for that user.
    let customer = admin_api.post_created(&format!("/api/v1/orgs/{org}/customers"), json!({"name": "Carla Customer", "email": users[2].0, "phone": "+1 555 0100", "user_id": customer_user["id"]})).await;
    assert_eq!(customer["user_id"], customer_user["id"]);

    // ...and a jobs board.
    let board = admin_api
        .post_created(
            &format!("/api/v1/orgs/{org}/boards"),
            json!({"name": "Call-outs", "template": "jobs"}),
        )
        .await;
    assert_eq!(board["template"], "jobs");
    let statuses = names(&board, "columns");
    assert_eq!(statuses, ["New", "Scheduled", "In progress", "Done"]);

    // Everything is where the owner looks.
    let (_, members) = owner.get(&format!("/api/v1/orgs/{org}/members")).await;
    let mut listed = ids(&members, "members");
    listed.sort();
    made.sort();
    assert_eq!(listed, made);
    let (_, customers) = owner.get(&format!("/api/v1/orgs/{org}/customers")).await;
    assert_eq!(
        ids(&customers, "customers"),
        vec![customer["id"].as_str().unwrap().to_string()]
    );
    let (_, boards) = owner.get(&format!("/api/v1/orgs/{org}/boards")).await;
    assert_eq!(
        ids(&boards, "boards"),
        vec![board["id"].as_str().unwrap().to_string()]
    );

    // Every new person can log in and sees the right role.
    for (email, m) in &users {
        let api = server.login(email, PASSWORD).await;
        let (s, me) = api.get("/api/v1/me").await;
        assert_eq!(s, 200);
        assert_eq!(me["memberships"][0]["org_id"], json!(org));
        assert_eq!(me["memberships"][0]["role"], m["role"]);
        assert_eq!(me["memberships"][0]["org_name"], "Speedy Plumbing");
    }

    // Someone of another organization sees none of it.
    let other_email = unique_email("other");
    let (other_org, _) = create_org(&db, "Rival Plumbing", &other_email, PASSWORD);
    let other = server.login(&other_email, PASSWORD).await;
    let (_, me) = other.get("/api/v1/me").await;
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1);
    assert_eq!(me["memberships"][0]["org_id"], json!(other_org));
    let customer_id = customer["id"].as_str().unwrap();
    let board_id = board["id"].as_str().unwrap();
    let paths = [
        ("GET", format!("/api/v1/orgs/{org}/members")),
        ("GET", format!("/api/v1/orgs/{org}/customers")),
        ("GET", format!("/api/v1/orgs/{org}/customers/{customer_id}")),
        ("GET", format!("/api/v1/orgs/{org}/boards")),
        ("GET", format!("/api/v1/orgs/{org}/api-keys")),
        ("POST", format!("/api/v1/boards/{board_id}/archive")),
    ];
    for (method, path) in &paths {
        let body = (*method == "POST").then(|| json!({}));
        let got = other.send(method, path, body).await.pair();
        assert_eq!(got.0, 404, "{method} {path}: {}", got.1);
        expect_error(&got, 404, "not_found");
    }
    for (_, m) in &users {
        let path = format!("/api/v1/orgs/{org}/members/{}", m["id"].as_str().unwrap());
        expect_error(
            &other.patch(&path, json!({"role": "admin"})).await,
            404,
            "not_found",
        );
        expect_error(&other.delete(&path).await, 404, "not_found");
    }
    // Their own org is empty of all of it.
    let (_, theirs) = other.get(&format!("/api/v1/orgs/{other_org}/boards")).await;
    assert!(ids(&theirs, "boards").is_empty());
    let (_, theirs) = other
        .get(&format!("/api/v1/orgs/{other_org}/customers"))
        .await;
    assert!(ids(&theirs, "customers").is_empty());
    let (_, theirs) = other
        .get(&format!("/api/v1/orgs/{other_org}/members"))
        .await;
    assert_eq!(ids(&theirs, "members").len(), 1);
    // And nothing of the first org moved.
    let (_, boards_after) = owner.get(&format!("/api/v1/orgs/{org}/boards")).await;
    assert_eq!(boards_after, boards);
    let (_, members_after) = owner.get(&format!("/api/v1/orgs/{org}/members")).await;
    assert_eq!(members_after, members);
}
