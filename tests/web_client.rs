//! What the server adds for the web client: the embedded app (SPA paths, caching, gzip, API
//! paths untouched) and the three read endpoints the screens need — `people` (names for
//! assignees and @mentions), `job` (the customer page's statuses and workers' names, also for
//! a share token) and the list of share links.

mod common;

use common::*;
use serde_json::{json, Value};

const DEMO_PASSWORD: &str = "boardroom-demo";

struct Demo {
    server: TestServer,
    _dir: tempfile::TempDir,
    org: String,
    admin: Api,
    jobs: Value,
}

async fn demo() -> Demo {
    // The embedded store with the demo seed, named by URL so that `new_org` (the CLI) can
    // create a second organization in the same file.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}/boardroom.db", dir.path().display());
    let server = TestServer::start(&url, &[("BOARDROOM_DEV_MODE", "true")]).await;
    let admin = server.login("admin@demo.boardroom", DEMO_PASSWORD).await;
    let (_, me) = admin.get("/api/v1/me").await;
    let org = me["memberships"][0]["org_id"].as_str().unwrap().to_string();
    let (_, boards) = admin.get(&format!("/api/v1/orgs/{org}/boards")).await;
    let id = find_in(&boards, "boards", |b| b["template"] == "jobs")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, jobs) = admin.get(&format!("/api/v1/boards/{id}")).await;
    assert_eq!(s, 200, "{jobs}");
    Demo {
        server,
        _dir: dir,
        org,
        admin,
        jobs,
    }
}

fn card<'a>(board: &'a Value, title: &str) -> &'a Value {
    board["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"].as_str().unwrap().starts_with(title))
        .unwrap_or_else(|| panic!("no card {title}"))
}

fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn serves_the_embedded_app_without_touching_the_api() {
    let d = demo().await;
    let api = d.server.api();
    // The app answers its own paths with index.html, never cached for long.
    for path in [
        "/",
        "/login",
        "/boards",
        "/boards/0190b6d2-8f3c-7a41-9c2e-5d6f7a8b9c0d/cards/x",
        "/j/brs_whatever",
        "/my-jobs",
        "/admin/api-keys",
    ] {
        let r = api.send("GET", path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(header(&r, "referrer-policy"), "no-referrer");
        assert!(header(&r, "content-security-policy").contains("default-src 'self'"));
        let html = r.body.as_str().unwrap();
        assert!(html.contains(r#"<div id="app">"#), "{html}");
    }
    // A fresh copy is not sent again to a browser that has it.
    let r = api.send("GET", "/", None).await;
    let etag = header(&r, "etag").to_string();
    assert!(etag.starts_with('"'));
    let again = api
        .request("GET", "/boards")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // Hashed assets: long-lived cache, gzip for those who accept it.
    let html = r.body.as_str().unwrap().to_string();
    let js = html
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
        .expect("a script in index.html")
        .to_string();
    let plain = api.request("GET", &js).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(
        plain.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        plain.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    let gz = api
        .request("GET", &js)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    let gz_bytes = gz.bytes().await.unwrap();
    assert_eq!(&gz_bytes[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(gz_bytes.len() * 2 < plain_len, "gzip is smaller");
    // A missing file is a 404, not the app.
    let r = api.send("GET", "/assets/nope-123.js", None).await;
    assert_eq!(r.status, 404);

    // The API keeps answering JSON errors.
    expect_error(&api.get("/api/v1/nope").await, 404, "not_found");
    expect_error(&api.get("/api").await, 404, "not_found");
    expect_error(&api.post("/boards", json!({})).await, 404, "not_found");
    let (s, body) = api.get("/healthz").await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
    // Dev mode with the demo seed: the sign-in page may offer the demo accounts.
    assert_eq!(body["demo"], json!(true));
    // `/ws` stays the WebSocket endpoint (a plain GET is not upgraded, and is not the app).
    let r = api.send("GET", "/ws", None).await;
    assert_ne!(header(&r, "content-type"), "text/html; charset=utf-8");
}

#[tokio::test]
async fn people_lists_names_and_roles_for_staff_only() {
    let d = demo().await;
    let path = format!("/api/v1/orgs/{}/people", d.org);
    for who in ["member", "worker", "admin"] {
        let api = d
            .server
            .login(&format!("{who}@demo.boardroom"), DEMO_PASSWORD)
            .await;
        let (s, body) = api.get(&path).await;
        assert_eq!(s, 200, "{who}: {body}");
        let people = body["people"].as_array().unwrap();
        assert_eq!(people.len(), 6, "{body}");
        for p in people {
            assert_uuid(&p["id"]);
            assert!(p["name"].is_string() && p["role"].is_string());
            assert!(p.get("email").is_none(), "no emails: {p}");
        }
        assert!(people
            .iter()
            .any(|p| p["name"] == "Walter Worker" && p["role"] == "worker"));
    }
    let customer = d
        .server
        .login("customer@demo.boardroom", DEMO_PASSWORD)
        .await;
    expect_forbidden(&customer.get(&path).await);
    expect_error(&d.server.api().get(&path).await, 401, "unauthorized");
    // Another organization's people do not exist for an outsider.
    let other = new_org(&d.server, "Elsewhere").await;
    expect_error(
        &other
            .owner
            .get(&format!("/api/v1/orgs/{}/people", d.org))
            .await,
        404,
        "not_found",
    );
    // A deactivated member leaves the list.
    let (_, people) = d.admin.get(&path).await;
    let wendy = find_in(&people, "people", |p| p["name"] == "Wendy Worker")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = d
        .admin
        .delete(&format!("/api/v1/orgs/{}/members/{wendy}", d.org))
        .await;
    assert_eq!(s, 204);
    let (_, people) = d.admin.get(&path).await;
    assert_eq!(people["people"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn job_page_info_for_share_links_and_customers() {
    let d = demo().await;
    let boiler = card(&d.jobs, "Repair boiler");
    let card_id = boiler["id"].as_str().unwrap();
    let (s, link) = d
        .admin
        .post(&format!("/api/v1/cards/{card_id}/share-links"), json!({}))
        .await;
    assert_eq!(s, 201, "{link}");
    let share = d.server.api().with_token(link["token"].as_str().unwrap());

    // The share token names its card; the statuses come in board order; only workers' names.
    let (s, job) = share.get("/api/v1/job").await;
    assert_eq!(s, 200, "{job}");
    assert_eq!(job["card_id"], card_id);
    assert_eq!(job["board_id"], d.jobs["id"]);
    assert_eq!(job["org_name"], "Demo Co");
    let names = names(&job, "statuses");
    assert_eq!(names, ["New", "Scheduled", "In progress", "Done"]);
    assert_eq!(job["statuses"][3]["is_done"], true);
    let workers = job["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0]["name"], "Walter Worker");
    assert_eq!(workers[0].as_object().unwrap().len(), 2, "id and name only");
    // A share link's holder is not told the customer's contact details.
    assert!(job["customer"].is_null(), "{job}");
    // Asking for its own card is fine; any other card does not exist for the link.
    let (s, _) = share.get(&format!("/api/v1/job?card={card_id}")).await;
    assert_eq!(s, 200);
    let other = card(&d.jobs, "Install shelving")["id"].as_str().unwrap();
    expect_error(
        &share.get(&format!("/api/v1/job?card={other}")).await,
        404,
        "not_found",
    );
    // A renamed status shows at once.
    let done = job["statuses"][3]["id"].as_str().unwrap();
    let board = d.jobs["id"].as_str().unwrap();
    let (s, r) = d
        .admin
        .post(
            &format!("/api/v1/boards/{board}/ops"),
            json!({"op_id": random_id(), "kind": "column.update", "data": {"column_id": done, "name": "Finished"}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, job) = share.get("/api/v1/job").await;
    assert_eq!(job["statuses"][3]["name"], "Finished");

    // The signed-in customer names the card; only their own cards.
    let customer = d
        .server
        .login("customer@demo.boardroom", DEMO_PASSWORD)
        .await;
    let (s, job) = customer.get(&format!("/api/v1/job?card={card_id}")).await;
    assert_eq!(s, 200, "{job}");
    assert_eq!(job["workers"][0]["name"], "Walter Worker");
    expect_error(
        &customer.get(&format!("/api/v1/job?card={other}")).await,
        404,
        "not_found",
    );
    expect_bad_field(&customer.get("/api/v1/job").await, "card");

    // The assigned worker sees who the job is for: name, phone and address.
    let worker = d.server.login("worker@demo.boardroom", DEMO_PASSWORD).await;
    let (s, job) = worker.get(&format!("/api/v1/job?card={card_id}")).await;
    assert_eq!(s, 200, "{job}");
    assert_eq!(job["customer"]["name"], "Carla Customer", "{job}");
    assert_eq!(job["customer"]["phone"], "+1 555 0100");
    assert_eq!(job["customer"]["address"], "12 Elm St, Springfield");

    // Revoked: the link stops working, and says why.
    let (s, _) = revoke_link(&d.admin, &link).await;
    assert_eq!(s, 204);
    let err = expect_error(&share.get("/api/v1/job").await, 401, "unauthorized");
    assert!(
        err["message"].as_str().unwrap().contains("revoked"),
        "{err}"
    );
    expect_error(
        &d.server.api().get("/api/v1/job").await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn share_links_are_listed_without_tokens() {
    let d = demo().await;
    let boiler = card(&d.jobs, "Repair boiler")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gutters = card(&d.jobs, "Gutter cleaning")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let member = d.server.login("member@demo.boardroom", DEMO_PASSWORD).await;
    let mut made = Vec::new();
    for c in [&boiler, &gutters, &boiler] {
        let l = member
            .post_created(
                &format!("/api/v1/cards/{c}/share-links"),
                json!({"expires_in_days": 7}),
            )
            .await;
        made.push(l);
    }
    let path = format!("/api/v1/orgs/{}/share-links", d.org);
    let (s, all) = d.admin.get(&path).await;
    assert_eq!(s, 200, "{all}");
    let list = all["share_links"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    // Newest first; no token anywhere.
    assert_eq!(list[0]["id"], made[2]["id"]);
    let text = all.to_string();
    for l in &made {
        assert!(!text.contains(l["token"].as_str().unwrap()));
    }
    assert!(list
        .iter()
        .any(|l| l["card_title"] == "Gutter cleaning" && l["card_id"] == gutters.as_str()));
    assert_time(&list[0]["expires_at"]);
    assert!(list[0]["revoked_at"].is_null());

    let (_, one) = member.get(&format!("{path}?card={boiler}")).await;
    assert_eq!(one["share_links"].as_array().unwrap().len(), 2);

    let (s, _) = member
        .delete(&format!(
            "/api/v1/share-links/{}",
            made[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 204);
    let (_, after) = member.get(&format!("{path}?card={boiler}")).await;
    let revoked = find_in(&after, "share_links", |l| l["id"] == made[0]["id"]);
    assert_time(&revoked["revoked_at"]);

    // Workers and customers do not manage links.
    for who in ["worker", "customer"] {
        let api = d
            .server
            .login(&format!("{who}@demo.boardroom"), DEMO_PASSWORD)
            .await;
        expect_forbidden(&api.get(&path).await);
    }
    let other = new_org(&d.server, "Elsewhere").await;
    expect_error(&other.owner.get(&path).await, 404, "not_found");
}
