//! The audit log (`GET /api/v1/orgs/{org}/audit`, CSV export) and card history
//! (`GET /api/v1/boards/{board}/cards/{card}/history`), against the real binary on Postgres and
//! on SQLite.

mod common;

use common::ws::Ws;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// A server on a fresh database of either store (the temp dir keeps the SQLite file alive).
async fn server(backend: &str) -> (TestServer, Option<tempfile::TempDir>) {
    server_on(backend != "postgres", &[]).await
}

fn audit_path(org: &Org, query: &str) -> String {
    format!("/api/v1/orgs/{}/audit?{query}", org.id)
}

async fn entries(api: &Api, org: &Org, query: &str) -> Vec<Value> {
    let (s, body) = api.get(&audit_path(org, query)).await;
    assert_eq!(s, 200, "{body}");
    body["entries"].as_array().expect("entries").clone()
}

fn of_kind<'a>(rows: &'a [Value], kind: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["kind"] == kind).collect()
}

#[track_caller]
fn one<'a>(rows: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(rows, kind);
    assert_eq!(found.len(), 1, "want one {kind}, got {found:?}");
    found[0]
}

/// Every kind of change leaves one row, with who, when, from where and old → new.
async fn every_kind_is_recorded(backend: &str) {
    let (server, _dir) = server(backend).await;
    let org = new_org(&server, "Audit Co").await;
    let o = &org.owner;
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);

    // Membership and role.
    let m = add_member(&server, o, &org.id, "member").await;
    let (s, b) = o
        .patch(
            &format!("/api/v1/orgs/{}/members/{}", org.id, m.id),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = o
        .delete(&format!("/api/v1/orgs/{}/members/{}", org.id, m.id))
        .await;
    assert_eq!(s, 204, "{b}");
    // API key.
    let key = o
        .post_created(
            &format!("/api/v1/orgs/{}/api-keys", org.id),
            json!({"name": "bot", "role": "member"}),
        )
        .await;
    let key_id = key["id"].as_str().unwrap().to_string();
    // A board op by the key, before it is revoked.
    let board = new_board(&org, json!({"name": "Ops"})).await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let bot = server.api().with_token(key["key"].as_str().unwrap());
    let card = create_card(&bot, &board, "Fix the boiler").await;
    let (s, b) = o
        .delete(&format!("/api/v1/orgs/{}/api-keys/{key_id}", org.id))
        .await;
    assert_eq!(s, 204, "{b}");
    // Share link.
    let link = share_link(o, &card, json!({})).await;
    let (s, b) = revoke_link(o, &link).await;
    assert_eq!(s, 204, "{b}");
    // Org setting.
    let (s, b) = o
        .patch(
            &format!("/api/v1/orgs/{}", org.id),
            json!({"name": "Audit Ltd"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["name"], "Audit Ltd");
    // Logins: the owner's own (new_org logged in), one wrong password, one unknown email.
    let (s, _) = server
        .api()
        .without_token()
        .post(
            "/api/v1/auth/login",
            json!({"email": org.owner_email, "password": "wrong password 1"}),
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = server
        .api()
        .without_token()
        .post(
            "/api/v1/auth/login",
            json!({"email": unique_email("nobody"), "password": "wrong password 1"}),
        )
        .await;
    assert_eq!(s, 401);

    // The failed login is written in the background: wait for it.
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = entries(o, &org, "limit=500").await;
        if !of_kind(&rows, "login.failed").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let owner = json!(org.owner_id);
    for r in &rows {
        assert!(assert_time(&r["at"]) >= started, "{r}");
        if r["source"] == "log" {
            assert_eq!(r["ip"], "127.0.0.1", "{r}");
        }
    }

    let r = one(&rows, "member.created");
    assert_eq!(r["actor"]["id"], owner);
    assert_eq!(r["actor"]["kind"], "user");
    assert_eq!(r["target_id"], json!(m.id));
    assert_eq!(r["new"]["role"], "member");
    assert_eq!(r["old"], Value::Null);
    let r = one(&rows, "member.role_changed");
    assert_eq!(
        (&r["old"]["role"], &r["new"]["role"]),
        (&json!("member"), &json!("admin"))
    );
    let r = one(&rows, "member.deactivated");
    assert_eq!(
        (&r["old"]["active"], &r["new"]["active"]),
        (&json!(true), &json!(false))
    );
    let r = one(&rows, "api_key.created");
    assert_eq!(r["target_id"], json!(key_id));
    assert_eq!(r["new"]["role"], "member");
    assert!(
        r["new"].get("key").is_none(),
        "the secret must not be logged: {r}"
    );
    let r = one(&rows, "api_key.revoked");
    assert_eq!(r["old"]["revoked_at"], Value::Null);
    assert_time(&r["new"]["revoked_at"]);
    let r = one(&rows, "share_link.created");
    assert_eq!(r["board_id"], json!(board_id));
    assert_eq!(r["new"]["card_id"], json!(card));
    assert!(!r.to_string().contains(link["token"].as_str().unwrap()));
    one(&rows, "share_link.revoked");
    let r = one(&rows, "org.updated");
    assert_eq!(
        (&r["old"]["name"], &r["new"]["name"]),
        (&json!("Audit Co"), &json!("Audit Ltd"))
    );
    // The owner's login (new_org) and the member's (add_member), each by its own account.
    let logins = of_kind(&rows, "login.succeeded");
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert!(logins.iter().any(|r| r["actor"]["id"] == owner));
    assert!(logins.iter().any(|r| r["actor"]["id"] == json!(m.id)));
    let r = one(&rows, "login.failed");
    assert_eq!(r["actor"]["id"], owner);
    assert_eq!(r["new"]["email"], json!(org.owner_email));
    one(&rows, "board.created");
    // The board op, from board_events, attributed to the key.
    let r = one(&rows, "card.created");
    assert_eq!(r["source"], "board_op");
    assert_eq!(r["actor"]["kind"], "api_key");
    assert_eq!(r["actor"]["id"], json!(key_id));
    assert_eq!(r["board_id"], json!(board_id));
    assert_eq!(r["target_id"], json!(card));
    assert_eq!(r["new"]["card"]["title"], "Fix the boiler");
    assert_eq!(
        r["ip"], "127.0.0.1",
        "the op's address is kept with its event: {r}"
    );
    // A failed login for an email with no account is in no org's log.
    assert_eq!(of_kind(&rows, "login.failed").len(), 1);
    // Newest first.
    let times: Vec<_> = rows.iter().map(|r| assert_time(&r["at"])).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

/// An op sent over the WebSocket is in the log with the connection's address.
async fn websocket_ops_keep_their_ip(backend: &str) {
    let (server, _dir) = server(backend).await;
    let org = new_org(&server, "Socket Co").await;
    let board = new_board(&org, json!({"name": "Live"})).await;
    let mut ws = Ws::connect(&server.base, boardroom_protocol::Codec::Json).await;
    let token = org.owner.token.clone().expect("token");
    ws.send_json(json!({"type": "hello", "ref": 0, "token": token}))
        .await;
    let welcome = ws.recv().await;
    assert!(format!("{welcome:?}").contains("Welcome"), "{welcome:?}");
    ws.send_json(json!({
        "type": "op", "ref": 1, "topic": format!("board:{}", board["id"].as_str().unwrap()),
        "op_id": Uuid::now_v7(), "kind": "card.create",
        "data": {"column_id": board["columns"][0]["id"], "title": "Over the socket", "after": null},
    }))
    .await;
    let answer = ws.recv().await;
    assert!(format!("{answer:?}").starts_with("Ok"), "{answer:?}");
    let rows = entries(&org.owner, &org, "kind=card.created").await;
    let r = one(&rows, "card.created");
    assert_eq!(r["new"]["card"]["title"], "Over the socket");
    assert_eq!(r["ip"], "127.0.0.1", "{r}");
}

/// Filters (actor, kind, board, since/until) and cursor pages that neither skip nor repeat.
async fn filters_and_pages(backend: &str) {
    let (server, _dir) = server(backend).await;
    let org = new_org(&server, "Filter Co").await;
    let o = &org.owner;
    let admin = add_member(&server, o, &org.id, "admin").await;
    let b1 = new_board(&org, json!({"name": "One"})).await;
    let b2 = new_board(&org, json!({"name": "Two"})).await;
    let b1_id = b1["id"].as_str().unwrap();
    for i in 0..4 {
        create_card(o, &b1, &format!("owner {i}")).await;
    }
    for i in 0..3 {
        create_card(&admin.api, &b2, &format!("admin {i}")).await;
    }
    let middle = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let late = add_member(&server, &admin.api, &org.id, "worker").await;

    let all = entries(o, &org, "limit=500").await;
    // kind
    let cards = entries(o, &org, "kind=card.created").await;
    assert_eq!(cards.len(), 7);
    assert!(cards.iter().all(|r| r["kind"] == "card.created"));
    // actor: the admin's ops and changes only, from both sources.
    let by_admin = entries(o, &org, &format!("actor={}&limit=500", admin.id)).await;
    assert!(
        by_admin.iter().all(|r| r["actor"]["id"] == json!(admin.id)),
        "{by_admin:?}"
    );
    assert_eq!(of_kind(&by_admin, "card.created").len(), 3);
    assert_eq!(of_kind(&by_admin, "member.created").len(), 1);
    // board
    let on_b1 = entries(o, &org, &format!("board={b1_id}&limit=500")).await;
    assert_eq!(of_kind(&on_b1, "card.created").len(), 4);
    assert!(on_b1.iter().all(|r| r["board_id"] == json!(b1_id)));
    // since / until
    let t = middle.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let t = t.replace('+', "%2B");
    let after = entries(o, &org, &format!("since={t}&limit=500")).await;
    let r = one(&after, "member.created");
    assert_eq!(r["target_id"], json!(late.id));
    assert!(of_kind(&after, "card.created").is_empty(), "{after:?}");
    let before = entries(o, &org, &format!("until={t}&limit=500")).await;
    assert_eq!(before.len() + after.len(), all.len());
    assert_eq!(of_kind(&before, "card.created").len(), 7);

    // Pages of 3 walk the same rows as one big page, in the same order.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let q = match &cursor {
            Some(c) => format!("limit=3&cursor={c}"),
            None => "limit=3".to_string(),
        };
        let (s, page) = o.get(&audit_path(&org, &q)).await;
        assert_eq!(s, 200, "{page}");
        let rows = page["entries"].as_array().unwrap();
        assert!(rows.len() <= 3);
        walked.extend(rows.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(all.len() > 12, "too few rows to page: {}", all.len());
    assert_eq!(walked, all);
    // A row added meanwhile does not shift a cursor's page: the newest rows come first.
    let (s, first) = o.get(&audit_path(&org, "limit=3")).await;
    assert_eq!(s, 200);
    let c = first["next_cursor"].as_str().unwrap().to_string();
    add_member(&server, o, &org.id, "member").await;
    let (_, again) = o
        .get(&audit_path(&org, &format!("limit=3&cursor={c}")))
        .await;
    assert_eq!(again["entries"], json!(all[3..6]));

    // Bad input is answered 400 with the field.
    for (q, field) in [
        ("actor=nope", "actor"),
        ("board=1", "board"),
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("cursor=abc", "cursor"),
        ("format=xml", "format"),
    ] {
        expect_bad_field(&o.get(&audit_path(&org, q)).await, field);
    }
}

/// `?format=csv`: a header, one line per row, quoted where needed, formulas defused.
async fn csv_export(backend: &str) {
    let (server, _dir) = server(backend).await;
    let org = new_org(&server, "Csv Co").await;
    let o = &org.owner;
    let board = new_board(&org, json!({"name": "Board"})).await;
    create_card(o, &board, "=HYPERLINK(\"x\"), with a comma").await;
    let rows = entries(o, &org, "limit=500").await;
    let res = o
        .request("GET", &audit_path(&org, "format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let cd = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.contains("attachment"), "{cd}");
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "at,source,kind,actor_kind,actor_id,actor_name,ip,board_id,target_id,old,new"
    );
    assert_eq!(lines.len(), rows.len() + 1, "{text}");
    let card_line = lines.iter().find(|l| l.contains(",card.created,")).unwrap();
    assert!(card_line.contains(&org.owner_id), "{card_line}");
    // The title sits inside the JSON of `new`, which is quoted as one cell.
    assert!(
        card_line.contains("\"\"title\"\":\"\"=HYPERLINK(\\\"\"x\\\"\"), with a comma\"\""),
        "{card_line}"
    );
    // Filters apply to the export too.
    let res = o
        .request("GET", &audit_path(&org, "format=csv&kind=board.created"))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert_eq!(
        text.split("\r\n").filter(|l| !l.is_empty()).count(),
        2,
        "{text}"
    );
}

/// Owners and admins read the log; members, workers and customers get 403; another org 404.
async fn who_may_read(backend: &str) {
    let (server, _dir) = server(backend).await;
    let org = new_org(&server, "Who Co").await;
    let other = new_org(&server, "Other Co").await;
    let path = audit_path(&org, "");
    let admin = add_member(&server, &org.owner, &org.id, "admin").await;
    assert_eq!(admin.api.get(&path).await.0, 200);
    for role in ["member", "worker", "customer"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        expect_forbidden(&m.api.get(&path).await);
    }
    expect_error(&other.owner.get(&path).await, 404, "not_found");
    expect_error(
        &server.api().without_token().get(&path).await,
        401,
        "unauthorized",
    );
    // A member cannot change the org's settings either; another org cannot see it.
    let m = add_member(&server, &org.owner, &org.id, "member").await;
    let rename = format!("/api/v1/orgs/{}", org.id);
    expect_forbidden(&m.api.patch(&rename, json!({"name": "x"})).await);
    expect_error(
        &other.owner.patch(&rename, json!({"name": "x"})).await,
        404,
        "not_found",
    );
    expect_bad_field(&org.owner.patch(&rename, json!({"name": ""})).await, "name");
    let unknown = format!("/api/v1/orgs/{}", Uuid::now_v7());
    expect_error(
        &org.owner.patch(&unknown, json!({"name": "x"})).await,
        404,
        "not_found",
    );
    // Another org's rows never show up.
    let rows = entries(&other.owner, &other, "limit=500").await;
    assert!(
        rows.iter().all(|r| r["actor"]["id"] != json!(org.owner_id)),
        "{rows:?}"
    );
}

/// Card history: who changed what, old → new; members yes, workers/customers 403, others 404.
async fn card_history(backend: &str) {
    let (server, _dir) = server(backend).await;
    let org = new_org(&server, "History Co").await;
    let o = &org.owner;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let member = add_member(&server, o, &org.id, "member").await;
    let worker = add_member(&server, o, &org.id, "worker").await;
    let card = create_card(o, &board, "First title").await;
    op_ok(
        &member.api,
        &board_id,
        "card.update",
        json!({"card_id": card, "title": "Second title"}),
    )
    .await;
    let to = board["columns"][1]["id"].as_str().unwrap();
    op_ok(
        o,
        &board_id,
        "card.move",
        json!({"card_id": card, "column_id": to, "after": null}),
    )
    .await;
    op_ok(
        o,
        &board_id,
        "card.assign",
        json!({"card_id": card, "assignees": [worker.id]}),
    )
    .await;
    // Another card's changes stay out of this one's history.
    let other_card = create_card(o, &board, "Other").await;
    op_ok(
        o,
        &board_id,
        "card.update",
        json!({"card_id": other_card, "title": "Other 2"}),
    )
    .await;

    let path = format!("/api/v1/boards/{board_id}/cards/{card}/history");
    let (s, h) = member.api.get(&path).await;
    assert_eq!(s, 200, "{h}");
    let e = h["entries"].as_array().unwrap();
    assert_eq!(e.len(), 4, "{h}");
    assert_eq!(e[0]["kind"], "card.created");
    assert_eq!(e[1]["kind"], "card.updated");
    assert_eq!(e[1]["actor"]["id"], json!(member.id));
    assert_eq!(
        e[1]["changes"],
        json!([{"field": "title", "old": "First title", "new": "Second title"}])
    );
    let from = board["columns"][0]["name"].clone();
    let to_name = board["columns"][1]["name"].clone();
    assert_eq!(
        e[2]["changes"],
        json!([{"field": "column", "old": from, "new": to_name}])
    );
    assert_eq!(e[2]["actor"]["id"], json!(org.owner_id));
    assert_eq!(
        e[3]["changes"],
        json!([{"field": "assignees", "old": [], "new": [worker.id]}])
    );
    let seqs: Vec<i64> = e.iter().map(|x| x["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // The worker is assigned (the card is in their view) but the history is unfiltered: 403.
    expect_forbidden(&worker.api.get(&path).await);
    let customer = add_member(&server, o, &org.id, "customer").await;
    expect_forbidden(&customer.api.get(&path).await);
    let other = new_org(&server, "Other Co").await;
    expect_error(&other.owner.get(&path).await, 404, "not_found");
    let unknown = format!("/api/v1/boards/{board_id}/cards/{}/history", Uuid::now_v7());
    expect_error(&o.get(&unknown).await, 404, "not_found");
    // A card id of another board of the org is not found under this board.
    let b2 = new_board(&org, json!({"name": "B2"})).await;
    let wrong = format!(
        "/api/v1/boards/{}/cards/{card}/history",
        b2["id"].as_str().unwrap()
    );
    expect_error(&o.get(&wrong).await, 404, "not_found");
}

/// A card made outside the op path (the demo seed writes rows, not events) has an empty
/// history, not a 404.
#[tokio::test]
async fn a_seeded_card_has_an_empty_history() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_embedded(dir.path().to_str().unwrap()).await;
    let owner = server.login("owner@demo.boardroom", "boardroom-demo").await;
    let (_, me) = owner.get("/api/v1/me").await;
    let org = me["memberships"][0]["org_id"].as_str().unwrap().to_string();
    let (_, boards) = owner.get(&format!("/api/v1/orgs/{org}/boards")).await;
    let board = boards["boards"][0]["id"].as_str().unwrap().to_string();
    let (s, snap) = owner.get(&format!("/api/v1/boards/{board}")).await;
    assert_eq!(s, 200, "{snap}");
    let card = snap["cards"][0]["id"]
        .as_str()
        .expect("a seeded card")
        .to_string();
    let (s, h) = owner
        .get(&format!("/api/v1/boards/{board}/cards/{card}/history"))
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["entries"], json!([]));
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod on_postgres {
            $( #[tokio::test] async fn $case() { super::$case("postgres").await } )*
        }
        mod on_sqlite {
            $( #[tokio::test] async fn $case() { super::$case("sqlite").await } )*
        }
    };
}

on_both!(
    every_kind_is_recorded,
    websocket_ops_keep_their_ip,
    filters_and_pages,
    csv_export,
    who_may_read,
    card_history,
);

/// Webhook changes are audited like the other settings, without the signing secret.
async fn webhook_changes_are_recorded(backend: &str) {
    // The receiver is on loopback, which only dev mode or this flag allows.
    let env = [("BOARDROOM_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")];
    let (server, _dir) = server_on(backend != "postgres", &env).await;
    let org = new_org(&server, "Hooks Co").await;
    let base = format!("/api/v1/orgs/{}/webhooks", org.id);
    let (s, hook) = org
        .owner
        .post(&base, json!({"url": "http://127.0.0.1:9/hook"}))
        .await;
    assert_eq!(s, 201, "{hook}");
    let id = hook["id"].as_str().expect("webhook id").to_string();
    let (s, b) = org
        .owner
        .patch(&format!("{base}/{id}"), json!({"active": false}))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = org
        .owner
        .post(&format!("{base}/{id}/rotate-secret"), json!({}))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = org.owner.delete(&format!("{base}/{id}")).await;
    assert_eq!(s, 204, "{b}");

    let rows = entries(&org.owner, &org, "kind=webhook.created").await;
    let r = one(&rows, "webhook.created");
    assert_eq!(r["target_id"], json!(id));
    assert_eq!(r["new"]["url"], "http://127.0.0.1:9/hook");
    assert_eq!(r["ip"], "127.0.0.1");
    let rows = entries(&org.owner, &org, "").await;
    let r = one(&rows, "webhook.updated");
    assert_eq!(
        (&r["old"]["active"], &r["new"]["active"]),
        (&json!(true), &json!(false))
    );
    one(&rows, "webhook.secret_rotated");
    let r = one(&rows, "webhook.deleted");
    assert_eq!(r["old"]["id"], json!(id));
    let text = serde_json::to_string(&rows).expect("rows as text");
    assert!(
        !text.contains("whsec_"),
        "no secret in the audit log: {text}"
    );
}

#[tokio::test]
async fn webhook_changes_are_recorded_on_postgres() {
    webhook_changes_are_recorded("postgres").await;
}

#[tokio::test]
async fn webhook_changes_are_recorded_on_sqlite() {
    webhook_changes_are_recorded("sqlite").await;
}
