//! Customers over HTTP: create, list, get, patch, soft delete; who may.

mod common;

use common::*;
use serde_json::{json, Value};

fn path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/customers")
}

#[tokio::test]
async fn customer_lifecycle() {
    let (_server, org) = server_with_org("Plumbers Ltd").await;
    let api = &org.owner;
    let c = api.post_created(&path(&org.id), json!({"name": "Mrs Jones", "email": "jones@example.test", "phone": "+44 20 7946 0000"})).await;
    assert_uuid(&c["id"]);
    assert_eq!(c["org_id"], json!(org.id));
    assert_eq!(c["name"], "Mrs Jones");
    assert_eq!(c["email"], "jones@example.test");
    assert_eq!(c["phone"], "+44 20 7946 0000");
    assert_eq!(c["user_id"], Value::Null);
    let created = assert_time(&c["created_at"]);
    assert_time(&c["updated_at"]);
    let id = c["id"].as_str().unwrap().to_string();
    let one = format!("{}/{id}", path(&org.id));

    // Only name is required.
    let c2 = api
        .post_created(&path(&org.id), json!({"name": "Mr Smith"}))
        .await;
    assert_eq!(c2["email"], Value::Null);
    assert_eq!(c2["phone"], Value::Null);

    let l = api.get_ok(&path(&org.id)).await;
    let mut got = ids(&l, "customers");
    got.sort();
    let mut want = vec![id.clone(), c2["id"].as_str().unwrap().to_string()];
    want.sort();
    assert_eq!(got, want);

    let (s, fetched) = api.get(&one).await;
    assert_eq!(s, 200, "{fetched}");
    assert_same(&fetched, &c);

    // PATCH changes only what it names.
    let (s, p) = api.patch(&one, json!({"phone": "+44 20 7946 0999"})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["phone"], "+44 20 7946 0999");
    assert_eq!(p["name"], "Mrs Jones");
    assert_eq!(p["email"], "jones@example.test");
    assert!(
        (assert_time(&p["created_at"]) - created)
            .num_milliseconds()
            .abs()
            < 1,
        "{p}"
    );
    assert!(
        assert_time(&p["updated_at"]) >= assert_time(&p["created_at"]),
        "{p}"
    );
    let (s, p) = api
        .patch(
            &one,
            json!({"name": "Mrs J. Jones", "email": "jj@example.test"}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["name"], "Mrs J. Jones");
    assert_eq!(p["email"], "jj@example.test");
    assert_eq!(p["phone"], "+44 20 7946 0999");
    let (_, fetched) = api.get(&one).await;
    assert_eq!(fetched["name"], "Mrs J. Jones");
    assert_eq!(fetched["phone"], "+44 20 7946 0999");

    // Soft delete: gone from the list and from GET.
    let (s, body) = api.delete(&one).await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(body, Value::Null);
    expect_error(&api.get(&one).await, 404, "not_found");
    let l = api.get_ok(&path(&org.id)).await;
    assert_eq!(
        ids(&l, "customers"),
        vec![c2["id"].as_str().unwrap().to_string()]
    );

    let missing = format!("{}/{}", path(&org.id), random_id());
    expect_error(&api.get(&missing).await, 404, "not_found");
    expect_error(
        &api.patch(&missing, json!({"name": "X"})).await,
        404,
        "not_found",
    );
    expect_error(&api.delete(&missing).await, 404, "not_found");
}

#[tokio::test]
async fn customer_can_be_linked_to_a_customer_user() {
    let (server, org) = server_with_org("Plumbers Ltd").await;
    let (u, c) = linked_customer(&server, &org.owner, &org.id, "Linked").await;
    assert_eq!(c["user_id"], json!(u.id));
    let id = c["id"].as_str().unwrap();
    // Unlink and relink with PATCH.
    let one = format!("{}/{id}", path(&org.id));
    let (s, p) = org.owner.patch(&one, json!({"user_id": null})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["user_id"], Value::Null);
    assert_eq!(p["name"], "Linked");
    let (s, p) = org.owner.patch(&one, json!({"user_id": u.id})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["user_id"], json!(u.id));

    // A user who is not in this org cannot be linked.
    let before = org.owner.get_ok(&path(&org.id)).await;
    let got = org
        .owner
        .post(
            &path(&org.id),
            json!({"name": "Ghost", "user_id": random_id()}),
        )
        .await;
    expect_client_error(&got, "linking an unknown user");
    assert_eq!(org.owner.get_ok(&path(&org.id)).await, before);
}

#[tokio::test]
async fn who_may_manage_customers() {
    let (server, org) = server_with_org("Plumbers Ltd").await;
    let c = org.create("customers", json!({"name": "Target"})).await;
    let one = format!("{}/{}", path(&org.id), c["id"].as_str().unwrap());

    // Admin and member may do everything.
    for role in ["admin", "member"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        let (s, made) = m
            .api
            .post(&path(&org.id), json!({"name": format!("by {role}")}))
            .await;
        assert_eq!(s, 201, "{role}: {made}");
        let mine = format!("{}/{}", path(&org.id), made["id"].as_str().unwrap());
        assert_eq!(m.api.get(&path(&org.id)).await.0, 200, "{role} lists");
        assert_eq!(m.api.get(&one).await.0, 200, "{role} gets");
        let (s, body) = m.api.patch(&mine, json!({"phone": "1"})).await;
        assert_eq!(s, 200, "{role} patches: {body}");
        assert_eq!(m.api.delete(&mine).await.0, 204, "{role} deletes");
    }

    // Workers and customers may not.
    for role in ["worker", "customer"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        let before = org.owner.get_ok(&path(&org.id)).await;
        expect_forbidden(&m.api.get(&path(&org.id)).await);
        expect_forbidden(&m.api.get(&one).await);
        expect_forbidden(&m.api.post(&path(&org.id), json!({"name": "No"})).await);
        expect_forbidden(&m.api.patch(&one, json!({"name": "No"})).await);
        expect_forbidden(&m.api.delete(&one).await);
        assert_eq!(
            org.owner.get_ok(&path(&org.id)).await,
            before,
            "{role}: refused requests changed customers"
        );
    }
    let (s, still) = org.owner.get(&one).await;
    assert_eq!(s, 200);
    assert_eq!(still["name"], "Target");
}

#[tokio::test]
async fn customer_fields_are_validated() {
    let (_server, org) = server_with_org("Plumbers Ltd").await;
    let c = org.create("customers", json!({"name": "Valid"})).await;
    let one = format!("{}/{}", path(&org.id), c["id"].as_str().unwrap());
    let before = org.owner.get_ok(&path(&org.id)).await;

    expect_bad_field(&org.owner.post(&path(&org.id), json!({})).await, "name");
    expect_bad_field(
        &org.owner.post(&path(&org.id), json!({"name": ""})).await,
        "name",
    );
    expect_bad_field(
        &org.owner
            .post(&path(&org.id), json!({"name": "n".repeat(101)}))
            .await,
        "name",
    );
    expect_bad_field(
        &org.owner.post(&path(&org.id), json!({"name": 7})).await,
        "name",
    );
    expect_bad_field(
        &org.owner
            .post(&path(&org.id), json!({"name": "X", "fax": "1 Road"}))
            .await,
        "fax",
    );
    expect_bad_field(
        &org.owner
            .post(
                &path(&org.id),
                json!({"name": "X", "address": "a".repeat(501)}),
            )
            .await,
        "address",
    );
    expect_bad_field(&org.owner.patch(&one, json!({"name": ""})).await, "name");
    expect_bad_field(
        &org.owner
            .patch(&one, json!({"name": "n".repeat(101)}))
            .await,
        "name",
    );
    expect_bad_field(
        &org.owner.patch(&one, json!({"colour": "red"})).await,
        "colour",
    );
    let r = org
        .owner
        .send_raw("POST", &path(&org.id), b"{\"name\": \"x\"".to_vec())
        .await;
    expect_error(&r.pair(), 400, "bad_request");

    assert_eq!(
        org.owner.get_ok(&path(&org.id)).await,
        before,
        "rejected requests changed customers"
    );
    let (_, still) = org.owner.get(&one).await;
    assert_same(&still, &c);
    let (s, body) = org
        .owner
        .post(&path(&org.id), json!({"name": "n".repeat(100)}))
        .await;
    assert_eq!(s, 201, "100 characters is allowed: {body}");
}
